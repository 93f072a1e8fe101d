//! The `.deb`'s `usr/share/doc/PACKAGE/copyright`, in Debian's machine-readable format (DEP-5).
//!
//! The app's `license` is an SPDX expression (`MIT OR Apache-2.0`, `GPL-3.0-or-later`). Each identifier becomes its
//! DEP-5 short name (`Expat`, `GPL-3+`), and gets one stand-alone `License:` paragraph:
//!
//! - licenses Debian ships in `/usr/share/common-licenses` (Apache-2.0, the GPL/LGPL/GFDL versions, MPL, CC0, the
//!   Perl Artistic licence) are referenced there, not copied: Debian policy 12.5 asks for that, and lintian makes it
//!   an error (`copyright-not-using-common-license-for-apache2`, `…-for-gpl`, …);
//! - a few short permissive licenses that are not there (Expat/MIT, BSD-2-Clause, BSD-3-Clause, ISC, Zlib) are
//!   written out in full, from `assets/licenses`. `/usr/share/common-licenses/BSD` is deliberately not used for the
//!   BSD licenses: that file is the Regents of the University of California's licence, naming them as the copyright
//!   holder, so it is only right for their code;
//! - anything else keeps its identifier, with a paragraph that points to the upstream project for the text.
//!
//! The mapping is a fixed table rather than a look at the build machine's `/usr/share/common-licenses`, so the
//! package does not depend on where it was built; a test checks the table against that directory.

use crate::config::App;

/// Where the text of a license is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// In `/usr/share/common-licenses/{file}` on every Debian system; `title` names it in the pointer sentence.
    Common { file: &'static str, title: &'static str },
    /// Written out in the copyright file.
    Embedded(&'static str),
    /// Not known here: the paragraph points to the upstream project.
    Upstream,
}

/// One license identifier, as Debian spells it, and where its text is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    pub dep5_name: String,
    pub text: Text,
}

const EXPAT: &str = include_str!("../../assets/licenses/Expat");
const BSD_2: &str = include_str!("../../assets/licenses/BSD-2-clause");
const BSD_3: &str = include_str!("../../assets/licenses/BSD-3-clause");
const ISC: &str = include_str!("../../assets/licenses/ISC");
const ZLIB: &str = include_str!("../../assets/licenses/Zlib");

/// SPDX identifier (its `-only` form, or the deprecated bare one) → DEP-5 name, common-licenses file and title.
/// `-or-later` and `+` give the DEP-5 name with `+` and the same file.
const COMMON: &[(&str, &str, &str, &str)] = &[
    ("Apache-2.0", "Apache-2.0", "Apache-2.0", "the Apache License, Version 2.0"),
    ("Artistic-1.0-Perl", "Artistic", "Artistic", "the Artistic License (Perl)"),
    ("CC0-1.0", "CC0-1.0", "CC0-1.0", "the Creative Commons CC0 1.0 Universal license"),
    ("GFDL-1.2", "GFDL-1.2", "GFDL-1.2", "the GNU Free Documentation License version 1.2"),
    ("GFDL-1.3", "GFDL-1.3", "GFDL-1.3", "the GNU Free Documentation License version 1.3"),
    ("GPL-1.0", "GPL-1", "GPL-1", "the GNU General Public License version 1"),
    ("GPL-2.0", "GPL-2", "GPL-2", "the GNU General Public License version 2"),
    ("GPL-3.0", "GPL-3", "GPL-3", "the GNU General Public License version 3"),
    ("LGPL-2.0", "LGPL-2", "LGPL-2", "the GNU Library General Public License version 2"),
    ("LGPL-2.1", "LGPL-2.1", "LGPL-2.1", "the GNU Lesser General Public License version 2.1"),
    ("LGPL-3.0", "LGPL-3", "LGPL-3", "the GNU Lesser General Public License version 3"),
    ("MPL-1.1", "MPL-1.1", "MPL-1.1", "the Mozilla Public License version 1.1"),
    ("MPL-2.0", "MPL-2.0", "MPL-2.0", "the Mozilla Public License version 2.0"),
];

/// SPDX identifier → DEP-5 name and full text, for licenses not in `/usr/share/common-licenses`.
const EMBEDDED: &[(&str, &str, &str)] = &[
    ("MIT", "Expat", EXPAT),
    ("BSD-2-Clause", "BSD-2-clause", BSD_2),
    ("BSD-3-Clause", "BSD-3-clause", BSD_3),
    ("ISC", "ISC", ISC),
    ("Zlib", "Zlib", ZLIB),
];

/// Every `/usr/share/common-licenses` file the copyright file may point to (for the test that checks them).
pub fn common_license_files() -> impl Iterator<Item = &'static str> {
    COMMON.iter().map(|(_, _, file, _)| *file)
}

/// What Debian calls the SPDX identifier `id`, and where its text is. SPDX identifiers are case-insensitive.
pub fn license(id: &str) -> License {
    let (base, later) = match id.strip_suffix("-or-later").or_else(|| id.strip_suffix('+')) {
        Some(base) => (base, true),
        None => (id.strip_suffix("-only").unwrap_or(id), false),
    };
    if let Some((_, name, file, title)) = COMMON.iter().find(|(spdx, ..)| spdx.eq_ignore_ascii_case(base)) {
        let dep5_name = if later { format!("{name}+") } else { (*name).to_owned() };
        return License { dep5_name, text: Text::Common { file, title } };
    }
    if let Some((_, name, text)) = EMBEDDED.iter().find(|(spdx, ..)| spdx.eq_ignore_ascii_case(id)) {
        return License { dep5_name: (*name).to_owned(), text: Text::Embedded(text) };
    }
    License { dep5_name: id.to_owned(), text: Text::Upstream }
}

/// The DEP-5 `License:` expression for an SPDX expression (operators in DEP-5's lower case, parentheses kept), and
/// the licenses it names, each once, in order of appearance.
pub fn expression(spdx: &str) -> (String, Vec<License>) {
    let spaced = spdx.replace('(', " ( ").replace(')', " ) ");
    let mut words = Vec::new();
    let mut licenses: Vec<License> = Vec::new();
    let mut after_with = false;
    for token in spaced.split_whitespace() {
        let word = match token.to_ascii_uppercase().as_str() {
            "OR" | "AND" | "WITH" => {
                after_with = token.eq_ignore_ascii_case("WITH");
                token.to_ascii_lowercase()
            }
            "(" | ")" => token.to_owned(),
            // DEP-5 writes an exception as `GPL-2+ with OpenSSL exception`.
            _ if after_with => {
                after_with = false;
                if token.to_ascii_lowercase().ends_with("exception") {
                    token.to_owned()
                } else {
                    format!("{token} exception")
                }
            }
            _ => {
                let license = license(token);
                let name = license.dep5_name.clone();
                if !licenses.iter().any(|l| l.dep5_name == name) {
                    licenses.push(license);
                }
                name
            }
        };
        words.push(word);
    }
    let text = words.join(" ").replace("( ", "(").replace(" )", ")");
    (text, licenses)
}

/// `usr/share/doc/PACKAGE/copyright`; `year` is the build's (`SOURCE_DATE_EPOCH`).
pub fn copyright_file(app: &App, year: i32) -> String {
    let holders = if app.authors.is_empty() { vec![app.maintainer.clone()] } else { app.authors.clone() };
    let mut s = String::from("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n");
    s += &format!("Upstream-Name: {}\n", one_line(&app.product_name));
    s += &format!("Upstream-Contact: {}\n", one_line(&app.maintainer));
    if let Some(home) = &app.homepage {
        s += &format!("Source: {}\n", one_line(home));
    }
    s += "\nFiles: *\nCopyright:";
    for (i, holder) in holders.iter().enumerate() {
        let indent = if i == 0 { " " } else { "           " };
        s += &format!("{indent}{year} {}\n", one_line(holder));
    }
    let upstream = app.homepage.as_deref().map_or_else(|| "the upstream project".to_owned(), |h| format!("<{h}>"));
    let Some(spdx) = app.license.as_deref().filter(|l| !l.trim().is_empty()) else {
        // Said as it is; lintian rightly reports a package without a stated license.
        s += &format!(
            "License: unknown\n{}",
            field_text(&format!("The package does not state its license; ask {upstream}."))
        );
        return s;
    };
    let (expression, licenses) = expression(spdx);
    s += &format!("License: {expression}\n");
    for license in licenses {
        s += &format!("\nLicense: {}\n", license.dep5_name);
        s += &field_text(&match license.text {
            Text::Common { file, title } => {
                let later =
                    if license.dep5_name.ends_with('+') { ", or (at your option) any later version" } else { "" };
                format!(
                    "On Debian systems, the complete text of {title}{later} can be found in\n\"/usr/share/common-licenses/{file}\"."
                )
            }
            Text::Embedded(text) => text.to_owned(),
            Text::Upstream => {
                format!("The text of this license is not included here; it is available from {upstream}.")
            }
        });
    }
    s
}

/// A field's continuation lines: each indented by one space, empty lines written as ` .`.
fn field_text(text: &str) -> String {
    text.trim_end().lines().map(|l| if l.trim().is_empty() { " .\n".to_owned() } else { format!(" {l}\n") }).collect()
}

/// A value that must fit on the field's first line.
fn one_line(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spdx_expressions_become_dep5_names() {
        let (text, licenses) = expression("MIT OR Apache-2.0");
        assert_eq!(text, "Expat or Apache-2.0");
        assert_eq!(licenses.len(), 2);
        assert_eq!(licenses[1].text, Text::Common { file: "Apache-2.0", title: "the Apache License, Version 2.0" });
        assert!(matches!(licenses[0].text, Text::Embedded(t) if t.starts_with("Permission is hereby granted")));

        assert_eq!(expression("GPL-3.0-or-later").0, "GPL-3+");
        assert_eq!(expression("gpl-2.0-only AND LGPL-2.1+").0, "GPL-2 and LGPL-2.1+");
        assert_eq!(expression("(MIT OR Apache-2.0) AND BSD-3-Clause").0, "(Expat or Apache-2.0) and BSD-3-clause");
        assert_eq!(
            expression("GPL-2.0-or-later WITH Classpath-exception-2.0").0,
            "GPL-2+ with Classpath-exception-2.0 exception"
        );
        // The same license twice gets one paragraph.
        assert_eq!(expression("MIT AND (MIT OR Zlib)").1.len(), 2);
        // BSD licenses carry their text: common-licenses/BSD is the Regents' own licence.
        assert!(matches!(license("BSD-3-Clause").text, Text::Embedded(_)));
        assert_eq!(license("LicenseRef-Proprietary").text, Text::Upstream);
    }

    #[test]
    fn every_referenced_common_license_is_on_this_debian_system() {
        for file in common_license_files() {
            let path = std::path::Path::new("/usr/share/common-licenses").join(file);
            assert!(path.is_file(), "`{}` does not exist on this machine (package base-files)", path.display());
        }
    }
}
