//! STP: placeholder, filled in by the STP work.
