//! A photo's text fields (an upload's form, `PATCH /photos/{id}`), read and validated.

use super::body::JsonBody;

/// The photo columns a PATCH names (`None`: left as it is).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhotoPatch {
    pub caption: Option<String>,
    pub text_desc: Option<String>,
    pub kind: Option<String>,
    pub license: Option<String>,
}

const TYPES: &str = "TFLPO";
const LICENSES: &str = "YCN";

impl PhotoPatch {
    /// Read and validate the photo fields of a form or JSON body; `None` where it leaves a
    /// field out (or sends `null`, which PATCH ignores). PATCH also takes the variant-B names
    /// `name` and `public_ind` (the original's `aliases`).
    pub fn read(body: &mut JsonBody, aliases: bool) -> Self {
        // Both names of a field are read (and so validated), whichever is used.
        let caption = body.string("caption", 0, Some(80));
        let name = aliases.then(|| body.string("name", 0, Some(80))).flatten();
        let text_desc = body.string("text_desc", 0, Some(65_535));
        let kind = body.letter("type", TYPES);
        let license = body.letter("license", LICENSES);
        let public_ind = aliases.then(|| body.letter("public_ind", LICENSES)).flatten();
        let (caption, license) = (caption.or(name), license.or(public_ind));
        Self { caption, text_desc, kind, license }
    }
}
