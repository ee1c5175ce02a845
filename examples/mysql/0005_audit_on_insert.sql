-- A stored program's body ends at its own END: no DELIMITER needed.
CREATE TRIGGER users_audit AFTER INSERT ON users FOR EACH ROW
BEGIN
  IF NEW.display_name IS NULL THEN
    INSERT INTO user_audit VALUES (NEW.id, CONCAT('joined as ', NEW.email));
  ELSE
    INSERT INTO user_audit VALUES (NEW.id, CONCAT('joined as ', NEW.display_name));
  END IF;
END;
