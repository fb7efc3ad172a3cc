"""The gateway: the public JSON API and the web portal, in front of the services."""
