"""Field simulators: ONVIF/RTSP cameras (and OPD websites) with faults injectable at start and at run time."""
