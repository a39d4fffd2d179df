"""The unified layer: the cross-sector view (view; SQL in assets/unified/ and assets/signals/), the department
exports (exports) and the management information (analytics)."""
