pub mod client;
pub mod format;
pub mod loadtest;
pub mod server;
pub mod verify;
