-- The link template of a Zitadel CreateInviteCode `sendCode`, kept so that resending the
-- invitation links where the first message did (NULL: usher's own invitation page).
ALTER TABLE invitations ADD COLUMN url_template TEXT;
