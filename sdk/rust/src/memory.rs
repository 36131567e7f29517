//! Durable key/value memory, private to this skill in the calling agent.
//!
//! Needs `memory = true` under `[capabilities]` in `skill.toml`; without it
//! every call returns [`Error::Denied`]. Writes are durable when they return.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::skillbox::skill::memory as host;

pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
    Ok(host::get(key)?)
}

pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
    Ok(host::set(key, value.as_ref())?)
}

/// Remove `key`; returns whether it was there.
pub fn delete(key: &str) -> Result<bool, Error> {
    Ok(host::delete(key)?)
}

/// Keys starting with `prefix`, in byte order.
pub fn list(prefix: &str) -> Result<Vec<String>, Error> {
    Ok(host::list_keys(prefix)?)
}

/// The value under `key`, decoded as UTF-8 text.
pub fn get_string(key: &str) -> Result<Option<String>, Error> {
    get(key)?
        .map(|bytes| String::from_utf8(bytes).map_err(|e| Error::Invalid(e.to_string())))
        .transpose()
}

/// The value under `key`, decoded from JSON.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    get(key)?
        .map(|bytes| serde_json::from_slice(&bytes).map_err(|e| Error::Invalid(e.to_string())))
        .transpose()
}

/// Store `value` under `key` as JSON.
pub fn set_json<T: Serialize>(key: &str, value: &T) -> Result<(), Error> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::Invalid(e.to_string()))?;
    set(key, bytes)
}
