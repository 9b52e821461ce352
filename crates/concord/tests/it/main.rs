mod diff;
mod support;
