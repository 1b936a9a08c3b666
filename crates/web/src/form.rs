//! The application form's fields as the manual groups them (R-AI1): the service label,
//! the organisation, EV data and contact fieldsets, and the labels of server types.

use crate::page::{Errors, FieldView, Fieldset};
use shomei_ca::BusinessCategory;
use shomei_model::{ServerType, Service, Term};
use shomei_ra::apply::ApplicationForm;
use shomei_ra::form::{CONTACTS, field_name};

/// The label of a service with its term, e.g. "セコムパスポート for Web SR3.0 1年".
pub fn service_label(t: crate::i18n::Tr, service: &str, term: &str) -> String {
    let name = match Service::from_code(service) {
        Some(s) => t.t(match s {
            Service::Sr30 => "service.sr30",
            Service::Ev20 => "service.ev20",
            Service::Sr20 => "service.sr20",
        }),
        None => "",
    };
    let term = term.trim();
    if term.is_empty() {
        return name.to_owned();
    }
    format!("{name} {}", term_text(t, term))
}

/// A term in words: 「1年」, "1 year", "2 years" (issue #8 item 8).
pub fn term_text(t: crate::i18n::Tr, years: &str) -> String {
    let key = if years == "1" {
        "term.year"
    } else {
        "term.years"
    };
    t.t1(key, years)
}

pub(crate) fn text(
    name: &'static str,
    label: &'static str,
    value: &str,
    errors: &Errors,
    input: &'static str,
    required: bool,
    maxlength: usize,
) -> FieldView {
    FieldView {
        name,
        label,
        hint: "",
        value: value.to_owned(),
        error: errors.msg(name),
        input,
        required,
        options: vec![],
        maxlength,
    }
}

pub(crate) fn select(
    name: &'static str,
    label: &'static str,
    value: &str,
    errors: &Errors,
    options: Vec<(String, String, bool)>,
) -> FieldView {
    FieldView {
        input: "select",
        options,
        ..text(name, label, value, errors, "select", true, 0)
    }
}

/// A country (ISO 3166-1 alpha-2, issue #8 item 1): a pull-down of every code with its
/// name in the page's language, Japan first.
pub(crate) fn country_select(
    name: &'static str,
    label: &'static str,
    value: &str,
    errors: &Errors,
    t: crate::i18n::Tr,
) -> FieldView {
    let ja = t.lang == crate::i18n::Lang::Ja;
    let value = shomei_model::validate::country(value).unwrap_or_else(|_| value.to_owned());
    let mut codes: Vec<&(&str, &str, &str)> = shomei_model::countries::COUNTRIES.iter().collect();
    codes.sort_by_key(|(c, _, _)| *c != "JP");
    let options = codes
        .into_iter()
        .map(|(code, en, jname)| {
            let shown = if ja { jname } else { en };
            (
                (*code).to_owned(),
                format!("{shown} ({code})"),
                value == *code,
            )
        })
        .collect();
    select(name, label, &value, errors, options)
}

/// The form's fields, grouped as the manual groups them (R-AI1).
pub fn fieldsets(
    t: crate::i18n::Tr,
    f: &ApplicationForm,
    e: &Errors,
    with_server_type: bool,
) -> Vec<Fieldset> {
    let is_ev = Service::from_code(&f.service).is_some_and(Service::is_ev);
    let mut out = Vec::new();
    if with_server_type {
        let options = ServerType::ALL
            .iter()
            .map(|s| {
                (
                    s.code().to_owned(),
                    t.t(server_type_key(*s)).to_owned(),
                    f.server_type == s.code(),
                )
            })
            .collect();
        out.push(Fieldset {
            legend: t.t("input.basic"),
            fields: vec![select(
                "server_type",
                t.t("field.server_type"),
                &f.server_type,
                e,
                options,
            )],
        });
    }
    out.push(Fieldset {
        legend: t.t("input.org"),
        fields: vec![
            FieldView {
                hint: t.t("field.org_name.hint"),
                ..text(
                    "org_name",
                    t.t("field.org_name"),
                    &f.org_name,
                    e,
                    "text",
                    true,
                    64,
                )
            },
            FieldView {
                hint: t.t("field.org_country.hint"),
                ..country_select(
                    "org_country",
                    t.t("field.org_country"),
                    &f.org_country,
                    e,
                    t,
                )
            },
            text(
                "org_state",
                t.t("field.org_state"),
                &f.org_state,
                e,
                "text",
                true,
                64,
            ),
            text(
                "org_locality",
                t.t("field.org_locality"),
                &f.org_locality,
                e,
                "text",
                true,
                64,
            ),
            // Issue #8 item 20: the fields account information has (R-AI2), optional.
            FieldView {
                hint: t.t("ai.hint.katakana"),
                ..text(
                    "org_kana",
                    t.t("ai.corp_kana"),
                    &f.org_kana,
                    e,
                    "text",
                    false,
                    100,
                )
            },
            FieldView {
                hint: t.t("ai.hint.postal"),
                ..text(
                    "org_postal",
                    t.t("ai.corp_postal"),
                    &f.org_postal,
                    e,
                    "text",
                    false,
                    8,
                )
            },
            FieldView {
                hint: t.t("ai.hint.full_width"),
                ..text(
                    "org_address",
                    t.t("ai.corp_address"),
                    &f.org_address,
                    e,
                    "text",
                    false,
                    200,
                )
            },
            FieldView {
                hint: t.t("ai.hint.postal"),
                ..text(
                    "org_current_postal",
                    t.t("ai.current_postal"),
                    &f.org_current_postal,
                    e,
                    "text",
                    false,
                    8,
                )
            },
            FieldView {
                hint: t.t("ai.hint.current_address"),
                ..text(
                    "org_current_address",
                    t.t("ai.current_address"),
                    &f.org_current_address,
                    e,
                    "text",
                    false,
                    200,
                )
            },
        ],
    });
    // 登記番号: for OV here, optional; EV asks for it, required, with the EV data.
    if !is_ev && let Some(org) = out.last_mut() {
        org.fields.insert(
            5,
            FieldView {
                hint: t.t("ai.hint.corp_number"),
                ..text(
                    "org_registration_number",
                    t.t("ai.corp_number"),
                    &f.org_registration_number,
                    e,
                    "text",
                    false,
                    14,
                )
            },
        );
    }
    out.extend(contact_fieldsets(t, f, e));
    if is_ev {
        let cats = BusinessCategory::ALL
            .iter()
            .map(|c| {
                (
                    c.text().to_owned(),
                    t.t(bc_key(*c)).to_owned(),
                    f.ev_business_category == c.text(),
                )
            })
            .collect();
        out.push(Fieldset {
            legend: t.t("input.ev"),
            fields: vec![
                select(
                    "ev_business_category",
                    t.t("field.ev_business_category"),
                    &f.ev_business_category,
                    e,
                    cats,
                ),
                FieldView {
                    hint: t.t("field.org_country.hint"),
                    ..country_select(
                        "ev_jurisdiction_country",
                        t.t("field.ev_jurisdiction_country"),
                        &f.ev_jurisdiction_country,
                        e,
                        t,
                    )
                },
                text(
                    "ev_jurisdiction_state",
                    t.t("field.ev_jurisdiction_state"),
                    &f.ev_jurisdiction_state,
                    e,
                    "text",
                    false,
                    64,
                ),
                text(
                    "ev_jurisdiction_locality",
                    t.t("field.ev_jurisdiction_locality"),
                    &f.ev_jurisdiction_locality,
                    e,
                    "text",
                    false,
                    64,
                ),
                FieldView {
                    hint: t.t("field.ev_registration_number.hint"),
                    ..text(
                        "ev_registration_number",
                        t.t("field.ev_registration_number"),
                        &f.ev_registration_number,
                        e,
                        "text",
                        true,
                        20,
                    )
                },
            ],
        });
    }
    out
}

/// The contacts of R-AI1 (登録担当者, 技術担当者, 事務担当者 and, optional, 契約責任者),
/// each with the fields account information has (issue #8 item 20).
pub fn contact_fieldsets(t: crate::i18n::Tr, f: &ApplicationForm, e: &Errors) -> Vec<Fieldset> {
    CONTACTS
        .iter()
        .map(|who| {
            let name = |part| field_name(who.prefix, part);
            let value = |part| shomei_ra::form::part(f, who.prefix, part);
            let required = !who.optional;
            let renewal = value("renewal_mail");
            let options = [("yes", "renewal_mail.yes"), ("no", "renewal_mail.no")]
                .iter()
                .map(|(v, k)| ((*v).to_owned(), t.t(k).to_owned(), renewal == *v))
                .collect();
            let line = |part, label, input, required, max| {
                text(name(part), t.t(label), value(part), e, input, required, max)
            };
            Fieldset {
                legend: t.t(who.legend),
                fields: vec![
                    line("name", "field.contact_name", "text", required, 64),
                    line("dept", "field.dept", "text", false, 64),
                    line("email", "field.email", "email", required, 254),
                    line("phone", "field.phone", "tel", required, 20),
                    line("fax", "ai.fax", "tel", false, 20),
                    FieldView {
                        hint: t.t("ai.hint.postal"),
                        ..line("postal", "ai.postal", "text", false, 8)
                    },
                    FieldView {
                        hint: t.t("ai.hint.full_width"),
                        ..line("address", "ai.address", "text", false, 200)
                    },
                    FieldView {
                        required: false,
                        hint: t.t("field.renewal_mail.hint"),
                        ..select(
                            name("renewal_mail"),
                            t.t("field.renewal_mail"),
                            renewal,
                            e,
                            options,
                        )
                    },
                ],
            }
        })
        .collect()
}

/// The message key of a server type.
pub fn server_type_key(s: ServerType) -> &'static str {
    match s {
        ServerType::Apache => "server_type.apache",
        ServerType::Nginx => "server_type.nginx",
        ServerType::Iis => "server_type.iis",
        ServerType::Appliance => "server_type.appliance",
        ServerType::Other => "server_type.other",
    }
}

pub(crate) fn bc_key(c: BusinessCategory) -> &'static str {
    match c {
        BusinessCategory::PrivateOrganization => "bc.private",
        BusinessCategory::GovernmentEntity => "bc.government",
        BusinessCategory::BusinessEntity => "bc.business",
        BusinessCategory::NonCommercialEntity => "bc.noncommercial",
    }
}

/// Choices of `services` for a select or radio group: (code, label, selected).
pub fn service_options(
    t: crate::i18n::Tr,
    services: &[Service],
    selected: &str,
) -> Vec<(String, String, bool)> {
    services
        .iter()
        .map(|s| {
            (
                s.code().to_owned(),
                service_label(t, s.code(), ""),
                selected == s.code(),
            )
        })
        .collect()
}

/// The offered terms for a select: (years, label, selected).
pub fn term_options(t: crate::i18n::Tr, selected: &str) -> Vec<(String, String, bool)> {
    Term::OFFERED
        .iter()
        .map(|y| {
            let v = y.in_years().to_string();
            let sel = selected == v;
            (v.clone(), term_text(t, &v), sel)
        })
        .collect()
}
