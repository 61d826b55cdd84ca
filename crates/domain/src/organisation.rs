//! Organisations (GP practices and providers), users and their roles.

use serde::{Deserialize, Serialize};

use crate::{OrganisationId, ServiceId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrganisationKind {
    /// A GP practice: its referrers send referrals.
    GpPractice,
    /// A provider (trust or community service) running one or more services.
    Provider,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Organisation {
    pub id: OrganisationId,
    pub kind: OrganisationKind,
    /// ODS code (e.g. `RQX` for Homerton, `F84001` for a practice).
    pub ods_code: String,
    pub name: String,
    /// The services a provider runs (empty for a practice).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub services: Vec<ServiceId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// GP or practice nurse: creates and submits referrals for their practice.
    Referrer,
    /// Consultant dermatologist: triages and answers referrals for the services assigned.
    Consultant,
    /// Runs a provider's services: users, policies, dashboard.
    ServiceAdmin,
    /// Manages organisations and users across the installation.
    SystemAdmin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Referrer, Role::Consultant, Role::ServiceAdmin, Role::SystemAdmin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Referrer => "referrer",
            Role::Consultant => "consultant",
            Role::ServiceAdmin => "service_admin",
            Role::SystemAdmin => "system_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A referrer's profession, for services that say who may refer (seed 000: "The following
/// clinicians can refer to this service: GPs").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Profession {
    Gp,
    Nurse,
    Pharmacist,
    PhysicianAssociate,
    Other,
}

impl Profession {
    pub const ALL: [Profession; 5] = [Profession::Gp, Profession::Nurse, Profession::Pharmacist, Profession::PhysicianAssociate, Profession::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Profession::Gp => "gp",
            Profession::Nurse => "nurse",
            Profession::Pharmacist => "pharmacist",
            Profession::PhysicianAssociate => "physician_associate",
            Profession::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Profession> {
        Profession::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Plural, for "referrals from GPs and nurses".
    pub fn plural(self) -> &'static str {
        match self {
            Profession::Gp => "GPs",
            Profession::Nurse => "nurses",
            Profession::Pharmacist => "pharmacists",
            Profession::PhysicianAssociate => "physician associates",
            Profession::Other => "other clinicians",
        }
    }
}

/// A person who signs in. The password hash lives in the store, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    /// Sign-in name (an email address).
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub organisation_id: crate::OrganisationId,
    /// For consultants: the services whose worklists they work.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub services: Vec<ServiceId>,
    /// For referrers: their profession (services may accept only some).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profession: Option<Profession>,
}
