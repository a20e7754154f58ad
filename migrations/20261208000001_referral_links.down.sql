DROP INDEX pc_referrals_expiration_idx;
-- A removed link has no older name: it reads as a referral without a usable domain.
UPDATE pc_referrals SET link_status = 'invalid', link_reason = 'the link was removed by hand'
 WHERE link_status = 'unlinked';
ALTER TABLE pc_referrals DROP CONSTRAINT pc_referrals_link_status_check;
ALTER TABLE pc_referrals ADD CONSTRAINT pc_referrals_link_status_check
    CHECK (link_status IN ('linked', 'no_domain', 'free_mail_only', 'invalid'));
ALTER TABLE pc_referrals DROP COLUMN link_override, DROP COLUMN link_override_by, DROP COLUMN link_override_at;
