"""MQTT bridges: ``mqtt-in`` brings sensor data into a federation, ``mqtt-out`` publishes from it (docs/live.md)."""
