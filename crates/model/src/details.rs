//! What an application carries besides its CSR: the organisation, the contacts of
//! R-AI1 and, for EV, the EV subject data. Stored as JSON with the application.

use serde::{Deserialize, Serialize};

/// The applying organisation (申請組織情報). The certificate subject is built from
/// these fields once staff have validated them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// 申請組織名: organizationName, as registered.
    pub name: String,
    /// 国: countryName (ISO 3166 alpha-2).
    pub country: String,
    /// 都道府県: stateOrProvinceName.
    pub state: String,
    /// 市区町村: localityName.
    pub locality: String,
    /// 法人名カナ (R-AI2; not in the certificate).
    #[serde(default)]
    pub kana: String,
    /// 郵便番号 of the registered address (not in the certificate).
    #[serde(default)]
    pub postal: String,
    /// 住所: the registered address (not in the certificate).
    #[serde(default)]
    pub address: String,
    /// 現住所: where the organisation is now, if not at its registered address (R-AI2).
    #[serde(default)]
    pub current_address: String,
    /// 現住所の郵便番号 (R-AI2).
    #[serde(default)]
    pub current_postal: String,
    /// 登記番号 `xxxx-xx-xxxxxx` (R-AI2; for OV, not in the certificate; EV carries
    /// its registration number in [`EvDetails`]).
    #[serde(default)]
    pub registration_number: String,
}

/// One contact (担当者).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// 氏名
    pub name: String,
    /// E-mail
    pub email: String,
    /// 電話番号
    pub phone: String,
    /// 更新のご案内メール: wants renewal reminders (R-AI2).
    #[serde(default)]
    pub renewal_mail: bool,
    /// FAX (optional, R-AI2).
    #[serde(default)]
    pub fax: String,
    /// 住所 (optional, R-AI2).
    #[serde(default)]
    pub address: String,
    /// 郵便番号 (optional, R-AI2).
    #[serde(default)]
    pub postal: String,
    /// 部署: the contact's department (optional).
    #[serde(default)]
    pub department: String,
}

/// The contacts of R-AI1: 登録担当者, 技術担当者, 事務担当者 and, for A-3 contracts,
/// 契約責任者.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contacts {
    /// 登録担当者: registration contact (phoned before a revocation, R-V4).
    pub registrant: Contact,
    /// 技術担当者: technical contact.
    pub technical: Contact,
    /// 事務担当者: administrative contact.
    pub administrative: Contact,
    /// 契約責任者: the contract officer (only A-3 contracts have one).
    #[serde(default)]
    pub officer: Option<Contact>,
}

impl Contacts {
    /// Every contact the application names, 登録担当者 first.
    pub fn all(&self) -> impl Iterator<Item = &Contact> {
        [&self.registrant, &self.technical, &self.administrative]
            .into_iter()
            .chain(self.officer.as_ref())
    }
}

/// EV subject data (EVG 7.1.4.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvDetails {
    /// jurisdictionCountryName
    pub jurisdiction_country: String,
    /// jurisdictionStateOrProvinceName (optional)
    pub jurisdiction_state: String,
    /// jurisdictionLocalityName (optional)
    pub jurisdiction_locality: String,
    /// businessCategory, as the EVG's exact text.
    pub business_category: String,
    /// 登記番号: the registration number (subject serialNumber).
    pub registration_number: String,
}

/// Everything an application carries besides the CSR.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationDetails {
    /// The organisation.
    pub organisation: Organisation,
    /// The contacts.
    pub contacts: Contacts,
    /// EV data: present for EV2.0 only.
    pub ev: Option<EvDetails>,
}
