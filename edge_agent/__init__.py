"""SCC edge agent: finds and checks CCTV cameras and OPD websites, reports over MQTT without losing reports."""

__version__ = "0.1.0"
