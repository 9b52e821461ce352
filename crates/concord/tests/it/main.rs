mod diff;
mod support;
mod server;
mod persist;
