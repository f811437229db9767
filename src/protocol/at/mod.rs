//! AT commands: placeholder, filled in by the AT work.
