//! The attributes Roster serves, as data: the `/Schemas` documents are generated from
//! these, and PATCH uses them to know what is multi-valued, boolean or read-only, and
//! how a name is spelled (names match case-insensitively).

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Complex,
    Reference,
    DateTime,
}

impl Type {
    fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Complex => "complex",
            Self::Reference => "reference",
            Self::DateTime => "dateTime",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadWrite,
    ReadOnly,
    Immutable,
}

#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub name: &'static str,
    pub kind: Type,
    pub multi: bool,
    pub required: bool,
    pub mutability: Mutability,
    pub case_exact: bool,
    pub unique_server: bool,
    pub sub: &'static [Attr],
    pub canonical: &'static [&'static str],
    /// For references: the resource types they point to.
    pub refs: &'static [&'static str],
    pub description: &'static str,
}

const fn attr(name: &'static str, kind: Type, description: &'static str) -> Attr {
    Attr {
        name,
        kind,
        multi: false,
        required: false,
        mutability: Mutability::ReadWrite,
        case_exact: false,
        unique_server: false,
        sub: &[],
        canonical: &[],
        refs: &[],
        description,
    }
}

impl Attr {
    const fn multi(mut self) -> Self {
        self.multi = true;
        self
    }
    const fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self
    }
    const fn sub(mut self, sub: &'static [Attr]) -> Self {
        self.sub = sub;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical = values;
        self
    }
    const fn refs(mut self, types: &'static [&'static str]) -> Self {
        self.refs = types;
        self
    }

    pub fn find_sub(&self, name: &str) -> Option<&'static Attr> {
        self.sub.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    fn to_json(self, dynamic_canonical: Option<&[String]>) -> Value {
        let mut v = json!({
            "name": self.name,
            "type": self.kind.as_str(),
            "multiValued": self.multi,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": match self.mutability {
                Mutability::ReadWrite => "readWrite",
                Mutability::ReadOnly => "readOnly",
                Mutability::Immutable => "immutable",
            },
            "returned": "default",
            "uniqueness": if self.unique_server { "server" } else { "none" },
        });
        if let Some(obj) = v.as_object_mut() {
            if !self.sub.is_empty() {
                obj.insert(
                    "subAttributes".into(),
                    Value::Array(self.sub.iter().map(|a| a.to_json(None)).collect()),
                );
            }
            match dynamic_canonical {
                Some(values) if !values.is_empty() => {
                    obj.insert("canonicalValues".into(), json!(values));
                }
                _ if !self.canonical.is_empty() => {
                    obj.insert("canonicalValues".into(), json!(self.canonical));
                }
                _ => {}
            }
            if self.kind == Type::Reference {
                obj.insert(
                    "referenceTypes".into(),
                    json!(if self.refs.is_empty() {
                        &["external"][..]
                    } else {
                        self.refs
                    }),
                );
            }
        }
        v
    }
}

const NAME_SUB: &[Attr] = &[
    attr("formatted", Type::String, "The full name, formatted for display."),
    attr("familyName", Type::String, "The family name."),
    attr("givenName", Type::String, "The given name."),
    attr("middleName", Type::String, "The middle name(s)."),
    attr("honorificPrefix", Type::String, "Honorific prefix, e.g. 'Ms.'."),
    attr("honorificSuffix", Type::String, "Honorific suffix, e.g. 'III'."),
];

const EMAIL_SUB: &[Attr] = &[
    attr("value", Type::String, "The email address."),
    attr("display", Type::String, "A human-readable name."),
    attr("type", Type::String, "The kind of address.").canonical(&["work", "home", "other"]),
    Attr {
        kind: Type::Boolean,
        ..attr("primary", Type::Boolean, "The primary address.")
    },
];

/// The sub-attributes every multi-valued attribute of RFC 7643 §2.4 has: a value, its
/// display, its type and whether it is the primary one.
const fn plural_sub(value: Type, value_description: &'static str, types: &'static [&'static str]) -> [Attr; 4] {
    [
        attr("value", value, value_description),
        attr("display", Type::String, "A human-readable name."),
        attr("type", Type::String, "The kind of value.").canonical(types),
        attr("primary", Type::Boolean, "The primary value."),
    ]
}

const PHONE_SUB: &[Attr] = &plural_sub(
    Type::String,
    "The phone number.",
    &["work", "home", "mobile", "fax", "pager", "other"],
);
const IM_SUB: &[Attr] = &plural_sub(
    Type::String,
    "The instant messaging address.",
    &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
);
const PHOTO_SUB: &[Attr] = &plural_sub(Type::Reference, "The URL of the photo.", &["photo", "thumbnail"]);
const ENTITLEMENT_SUB: &[Attr] = &plural_sub(Type::String, "The entitlement.", &[]);
const ROLE_SUB: &[Attr] = &plural_sub(Type::String, "The role.", &[]);
const CERTIFICATE_SUB: &[Attr] = &plural_sub(Type::String, "The certificate, base64 DER.", &[]);

const ADDRESS_SUB: &[Attr] = &[
    attr("formatted", Type::String, "The full address, formatted for display."),
    attr("streetAddress", Type::String, "The street address."),
    attr("locality", Type::String, "The city or locality."),
    attr("region", Type::String, "The state or region."),
    attr("postalCode", Type::String, "The postal code."),
    attr("country", Type::String, "The country, ISO 3166-1 alpha-2."),
    attr("type", Type::String, "The kind of address.").canonical(&["work", "home", "other"]),
    attr("primary", Type::Boolean, "The primary address."),
];

const GROUP_REF_SUB: &[Attr] = &[
    attr("value", Type::String, "The id of the Group.").read_only(),
    attr("$ref", Type::Reference, "The URI of the Group.")
        .read_only()
        .refs(&["Group"]),
    attr("display", Type::String, "The Group's displayName.").read_only(),
];

pub const USER_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        unique_server: true,
        ..attr(
            "userName",
            Type::String,
            "The person's email address: it identifies the account (case-insensitive).",
        )
    },
    attr("name", Type::Complex, "The components of the person's name.").sub(NAME_SUB),
    attr(
        "displayName",
        Type::String,
        "The Roster username, generated; read-only.",
    )
    .read_only(),
    attr("nickName", Type::String, "A casual name."),
    attr("title", Type::String, "The person's title."),
    attr("userType", Type::String, "The relationship to the organization."),
    attr(
        "preferredLanguage",
        Type::String,
        "Preferred written or spoken language.",
    ),
    attr("locale", Type::String, "Default location for localisation."),
    attr("timezone", Type::String, "Time zone, in IANA format."),
    attr(
        "active",
        Type::Boolean,
        "false deactivates the person's memberships and ends their sessions.",
    ),
    attr("emails", Type::Complex, "Email addresses.").multi().sub(EMAIL_SUB),
    attr("profileUrl", Type::Reference, "The person's online profile."),
    attr("phoneNumbers", Type::Complex, "Phone numbers.")
        .multi()
        .sub(PHONE_SUB),
    attr("ims", Type::Complex, "Instant messaging addresses.")
        .multi()
        .sub(IM_SUB),
    attr("photos", Type::Complex, "Photos of the person.")
        .multi()
        .sub(PHOTO_SUB),
    attr("addresses", Type::Complex, "Physical mailing addresses.")
        .multi()
        .sub(ADDRESS_SUB),
    attr("entitlements", Type::Complex, "Entitlements of the person.")
        .multi()
        .sub(ENTITLEMENT_SUB),
    attr(
        "roles",
        Type::Complex,
        "Roles of the person (not Roster's organization roles).",
    )
    .multi()
    .sub(ROLE_SUB),
    attr("x509Certificates", Type::Complex, "X.509 certificates of the person.")
        .multi()
        .sub(CERTIFICATE_SUB),
    attr("groups", Type::Complex, "The Groups the person is a member of.")
        .multi()
        .read_only()
        .sub(GROUP_REF_SUB),
];

const MANAGER_SUB: &[Attr] = &[
    attr("value", Type::String, "The id of the manager."),
    attr("$ref", Type::Reference, "The URI of the manager.").refs(&["User"]),
    attr("displayName", Type::String, "The manager's name.").read_only(),
];

pub const ENTERPRISE_ATTRS: &[Attr] = &[
    attr("employeeNumber", Type::String, "Employee number."),
    attr("costCenter", Type::String, "Cost center."),
    attr("organization", Type::String, "Organization name."),
    attr("division", Type::String, "Division."),
    attr("department", Type::String, "Department."),
    attr("manager", Type::Complex, "The person's manager.").sub(MANAGER_SUB),
];

pub const DOCKER_ATTRS: &[Attr] = &[
    attr(
        "dockerRole",
        Type::String,
        "The role in the organization: member, editor or owner.",
    )
    .canonical(&["member", "editor", "owner"]),
    attr(
        "dockerOrg",
        Type::String,
        "The organization (of this connection) to provision into; default: the connection's default organization.",
    ),
    attr(
        "dockerTeam",
        Type::String,
        "The team to add the person to; created when missing; default: the connection's default team.",
    ),
];

const MEMBER_SUB: &[Attr] = &[
    attr("value", Type::String, "The id of the member User."),
    attr("$ref", Type::Reference, "The URI of the member.").refs(&["User"]),
    attr("type", Type::String, "The member's resource type.").canonical(&["User"]),
];

pub const GROUP_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        ..attr(
            "displayName",
            Type::String,
            "The Group's name; 'organization:team' maps to that team.",
        )
    },
    attr("members", Type::Complex, "The members of the Group.")
        .multi()
        .sub(MEMBER_SUB),
];

/// Attributes every resource has besides its schema's (RFC 7643 §3.1); `id` and `meta`
/// are the server's.
pub const COMMON_ATTRS: &[Attr] = &[attr(
    "externalId",
    Type::String,
    "The identifier of the resource at the IdP.",
)];

/// The attributes of the core schema or extension `urn`.
pub fn attrs_of(urn: &str) -> Option<&'static [Attr]> {
    use crate::urn::*;
    [
        (USER, USER_ATTRS),
        (GROUP, GROUP_ATTRS),
        (ENTERPRISE_USER, ENTERPRISE_ATTRS),
        (DOCKER_USER, DOCKER_ATTRS),
    ]
    .into_iter()
    .find(|(u, _)| u.eq_ignore_ascii_case(urn))
    .map(|(_, a)| a)
}

pub fn find(attrs: &'static [Attr], name: &str) -> Option<&'static Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// A `/Schemas` document. `organizations` fills `dockerOrg`'s canonical values with the
/// connection's organizations.
pub fn schema_document(urn: &str, base_url: &str, organizations: &[String]) -> Option<Value> {
    use crate::urn::*;
    let (name, description) = match urn {
        USER => ("User", "A person with an account"),
        GROUP => ("Group", "A group of Users; 'organization:team' maps to a team"),
        ENTERPRISE_USER => ("EnterpriseUser", "Enterprise User extension"),
        DOCKER_USER => ("DockerUser", "Organization, team and role of the person"),
        _ => return None,
    };
    let attrs = attrs_of(urn)?;
    let attributes: Vec<Value> = attrs
        .iter()
        .map(|a| {
            a.to_json(if a.name == "dockerOrg" {
                Some(organizations)
            } else {
                None
            })
        })
        .collect();
    Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": urn,
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": { "resourceType": "Schema", "location": format!("{base_url}/Schemas/{urn}") },
    }))
}
