"""What both daemons (goat-edge run, goat-sync run) need from the service manager:
systemd's notify protocol and journald-friendly logging."""
