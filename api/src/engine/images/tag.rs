//! `docker tag`: point a repository:tag at an image (moving it off any other image).

use super::reference::Reference;
use crate::engine::{Engine, EngineError, Result};

impl Engine {
    /// Tag the image `source` names as `repo:tag` (tag "latest" when empty).
    pub fn tag(&self, source: &str, repo: &str, tag: &str) -> Result<()> {
        let img = self.image(source)?;
        let full = if tag.is_empty() {
            repo.to_string()
        } else {
            format!("{repo}:{tag}")
        };
        let r = Reference::parse(&full)?.with_default_tag();
        if r.digest.is_some() {
            return Err(EngineError::invalid_parameter(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let store = self.store();
        let lock = store.lock()?;
        // The image may have been removed since it was looked up.
        if store.read_record(super::store::hex_of(&img.id))?.is_none() {
            return Err(EngineError::not_found(format!("No such image: {source}")));
        }
        let mut index = store.read_index()?;
        index.references.insert(r.key(), img.id.clone());
        store.write_index(&index, &lock)?;
        drop(lock);
        self.image_event(&img.id, "tag", &r.familiar());
        Ok(())
    }
}
