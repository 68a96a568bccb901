//! Messages and pages (stub; being written).
