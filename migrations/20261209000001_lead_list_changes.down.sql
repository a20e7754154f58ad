DROP TRIGGER lead_list_announce ON pc_referrals;
DROP TRIGGER lead_list_announce ON lead_list;
DROP FUNCTION lead_list_announce();
