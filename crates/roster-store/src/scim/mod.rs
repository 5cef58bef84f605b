//! SCIM resources of each connection: Users linked to accounts, Groups with their
//! members, and the translation of SCIM filters to SQL.

pub mod filter_sql;
