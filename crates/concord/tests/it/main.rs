mod diff;
mod support;
mod server;
mod persist;
mod proxy;
mod up;
mod aa;
mod replica;
