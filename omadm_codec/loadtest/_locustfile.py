"""The locustfile of the fleet: ``locust -f omadm_codec/loadtest/_locustfile.py --host URL
--dm-devices N [--dm-mix FILE] [--dm-report PREFIX]`` (what ``omadm-codec loadtest --locust``
runs). Absolute imports: Locust loads this file by path, outside its package."""

from omadm_codec.loadtest._locust import DMDevice

__all__ = ["DMDevice"]
