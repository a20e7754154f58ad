-- Manual referral links (the referral inbox): a person ties a referral the sync could not link to
-- its company's domain, or removes a wrong link. The override is kept apart from what the sync
-- computes so that later syncs, which rewrite every synced column, never undo it.
ALTER TABLE pc_referrals
    -- 'link': a person linked it to `domain` / `company_id`; 'unlink': a person removed the link.
    -- NULL: the link is whatever the sync found.
    ADD COLUMN link_override    TEXT CHECK (link_override IN ('link', 'unlink')),
    -- The caller's login (from the socket's peer credentials) and when.
    ADD COLUMN link_override_by TEXT,
    ADD COLUMN link_override_at TIMESTAMPTZ;

-- 'unlinked': a person removed the link (the sync alone never sets it).
ALTER TABLE pc_referrals DROP CONSTRAINT pc_referrals_link_status_check;
ALTER TABLE pc_referrals ADD CONSTRAINT pc_referrals_link_status_check
    CHECK (link_status IN ('linked', 'no_domain', 'free_mail_only', 'invalid', 'unlinked'));

-- The inbox's "expiring soon" count and highlight.
CREATE INDEX pc_referrals_expiration_idx ON pc_referrals (expiration_time)
    WHERE direction = 'Incoming' AND status = 'New';
