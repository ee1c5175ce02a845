DROP TABLE user_audit;
