//! The dynamic ("server") form: the endpoint already resolved the client's platform and answers with one artifact.
//!
//! ```json
//! {"version":"1.2.3","notes":"…","pub_date":"2024-05-01T12:00:00Z","url":"https://…","signature":"dW50cnVz…","format":"nsis"}
//! ```

use serde_json::{Map, Value};

use super::TauriResponse;
use super::fields::{Artifact, Fields, ReleaseInfo};
use crate::delta::DeltaOffer;
use crate::error::{Error, Result};

/// A dynamic update response: one release, one artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicResponse {
    release: ReleaseInfo,
    artifact: Artifact,
    /// Millennium's delta offers (see [`crate::delta`]); never written when empty, so Tauri answers are unchanged.
    deltas: Vec<DeltaOffer>,
    extra: Map<String, Value>,
}

impl DynamicResponse {
    /// Makes a response. Fails if the signature's trusted comment names another version than the release.
    pub fn new(release: ReleaseInfo, artifact: Artifact) -> Result<Self> {
        artifact.signature().check_version(release.version(), "signature")?;
        Ok(Self { release, artifact, deltas: Vec::new(), extra: Map::new() })
    }

    /// Parses a response that must be of the dynamic form.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        match TauriResponse::parse(bytes)? {
            TauriResponse::Dynamic(response) => Ok(response),
            TauriResponse::Static(_) => Err(Error::WrongShape { expected: "dynamic", found: "static" }),
        }
    }

    pub(crate) fn take_from(release: ReleaseInfo, mut obj: Fields) -> Result<Self> {
        let artifact = Artifact::take_from(&mut obj, release.version())?;
        let deltas = crate::delta::take_deltas(&mut obj)?;
        Ok(Self { release, artifact, deltas, extra: obj.into_rest() })
    }

    /// Version, notes and date.
    pub fn release(&self) -> &ReleaseInfo {
        &self.release
    }

    /// The artifact to download.
    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }

    /// The deltas offered to the installed artifact the request named (empty for any other request).
    pub fn deltas(&self) -> &[DeltaOffer] {
        &self.deltas
    }

    /// The same answer offering `deltas` (at most [`crate::delta::MAX_DELTAS`]). Only for a request that sent
    /// [`crate::delta::INSTALLED_HEADER`].
    pub fn with_deltas(mut self, deltas: Vec<DeltaOffer>) -> Result<Self> {
        if deltas.len() > crate::delta::MAX_DELTAS {
            return Err(Error::TooManyItems { field: "deltas".into(), max: crate::delta::MAX_DELTAS });
        }
        for delta in &deltas {
            delta.validate()?;
        }
        self.deltas = deltas;
        Ok(self)
    }

    /// Top-level fields this crate does not know, as parsed (Tauri apps read these through `raw_json`). Empty for a
    /// response built with [`DynamicResponse::new`].
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// The response as a JSON value (unknown fields included; the known ones always win).
    pub fn to_json_value(&self) -> Value {
        let mut out = self.extra.clone();
        self.release.write_to(&mut out);
        self.artifact.write_to(&mut out);
        crate::delta::write_deltas(&self.deltas, &mut out);
        Value::Object(out)
    }

    /// The response as compact JSON text.
    pub fn to_json(&self) -> String {
        self.to_json_value().to_string()
    }
}
