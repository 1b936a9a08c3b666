-- Issue #11 item 4: the covering index of the search scans (migration 0009) was keyed by
-- status and dates after the account, so each record that became 完了 moved its wide
-- entry across the index (out of 審査中's place, into 完了's): ~1.7 pages written a
-- certificate. Keyed by the record's id after the account instead, which never changes,
-- an entry is rewritten where it is. The scans read every entry of the account either
-- way (search.rs); the list's count keeps applications_account_list.
DROP INDEX applications_account_search;
CREATE INDEX applications_account_search ON applications(account_id, id, status, contract_ends_at, cert_issued_at, org_name, names, contract_code, coupon, created_at, updated_at, service, kind, server_type, downloaded_at, cert_not_after, common_name);
