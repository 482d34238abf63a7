//! Unit tests of the delivery machine: every branch.
