"""Invoices among a region's members, and clearing them by multilateral set-off."""
