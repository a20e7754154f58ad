DROP TABLE sync_runs;
DROP TABLE pc_referrals;
