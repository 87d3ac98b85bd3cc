"""Karmada interpreter webhooks: ResourceInterpreterWebhookConfiguration objects and the HTTPS
calls that answer ResourceInterpreterContext requests."""
