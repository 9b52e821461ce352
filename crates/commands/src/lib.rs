//! The command table as data, and Redis's exact error strings.
