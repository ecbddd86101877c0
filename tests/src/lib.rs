//! Multi-node and binary-level test helpers (the daemon they drive comes next).
