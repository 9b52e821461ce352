//! shard: the tokio server around the engine.
