mod diff;
mod support;
mod server;
