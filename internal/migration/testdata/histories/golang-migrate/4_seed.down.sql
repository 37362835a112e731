DELETE FROM Players WHERE PlayerId <= 20;
