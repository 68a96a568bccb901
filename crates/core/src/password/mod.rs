//! Passwords (stub; being written).
