"""A glance_store driver that keeps Glance's images in a nitro repository."""
