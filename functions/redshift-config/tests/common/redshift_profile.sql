-- A throwaway PostgreSQL 15 database prepared to answer the Redshift dialect's catalog
-- reads the way Redshift does, and to refuse what Redshift refuses where PostgreSQL can.
-- Applied by common::redshift_profile() to one test database (needs the superuser).
-- Every rule cites the Redshift documentation it imitates.

-- Redshift cannot cast BOOLEAN to a character type ("cannot cast type boolean to character
-- varying"): https://docs.aws.amazon.com/redshift/latest/dg/r_Boolean_type.html,
-- https://docs.aws.amazon.com/redshift/latest/dg/r_CAST_function.html. PostgreSQL's
-- built-in casts are replaced, in this database only, by ones that raise the same error.
CREATE FUNCTION redshift_refuses_bool_cast(boolean) RETURNS varchar LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'cannot cast type boolean to character varying' USING ERRCODE = '42846';
END $$;
CREATE FUNCTION redshift_refuses_bool_cast_text(boolean) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'cannot cast type boolean to text' USING ERRCODE = '42846';
END $$;
DELETE FROM pg_cast
 WHERE castsource = 'boolean'::regtype
   AND casttarget IN ('varchar'::regtype, 'text'::regtype, 'bpchar'::regtype);
CREATE CAST (boolean AS varchar) WITH FUNCTION redshift_refuses_bool_cast(boolean);
CREATE CAST (boolean AS text) WITH FUNCTION redshift_refuses_bool_cast_text(boolean);

-- Redshift's own system views, in a schema searched before pg_catalog.
CREATE SCHEMA redshift_profile;

-- Which NOLOGIN roles are Redshift roles (CREATE ROLE) rather than groups (CREATE GROUP):
-- PostgreSQL has one kind; the test names its roles here.
CREATE TABLE redshift_profile.role_names (name name PRIMARY KEY);

-- SVV_USER_INFO: user_id, connection_limit ('UNLIMITED' is -1 in pg_roles).
-- https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_USER_INFO.html
CREATE VIEW redshift_profile.svv_user_info AS
  SELECT r.oid::int AS user_id, r.rolname::varchar AS user_name,
         CASE WHEN r.rolconnlimit < 0 THEN NULL ELSE r.rolconnlimit END AS connection_limit
    FROM pg_roles r WHERE r.rolcanlogin;

-- SVV_ROLES and SVV_USER_GRANTS: roles, and which users were granted them.
-- https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_ROLES.html,
-- https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_USER_GRANTS.html
CREATE VIEW redshift_profile.svv_roles AS
  SELECT r.oid::int AS role_id, r.rolname::varchar AS role_name
    FROM pg_roles r JOIN redshift_profile.role_names n ON n.name = r.rolname;
CREATE VIEW redshift_profile.svv_user_grants AS
  SELECT m.oid::int AS user_id, m.rolname::varchar AS user_name,
         r.oid::int AS role_id, r.rolname::varchar AS role_name
    FROM pg_auth_members a
    JOIN pg_roles r ON r.oid = a.roleid
    JOIN redshift_profile.role_names n ON n.name = r.rolname
    JOIN pg_roles m ON m.oid = a.member
   WHERE m.rolcanlogin;

-- Redshift's pg_group lists groups only, never roles.
CREATE VIEW redshift_profile.pg_group AS
  SELECT g.groname, g.grosysid, g.grolist FROM pg_catalog.pg_group g
   WHERE g.groname NOT IN (SELECT name FROM redshift_profile.role_names);

-- SVV_SCHEMA_PRIVILEGES / SVV_RELATION_PRIVILEGES: where Redshift reports grants to roles,
-- which its nspacl/relacl do not show.
-- https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_SCHEMA_PRIVILEGES.html,
-- https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_RELATION_PRIVILEGES.html
CREATE VIEW redshift_profile.svv_schema_privileges AS
  SELECT n.nspname::varchar AS namespace_name, a.privilege_type::varchar AS privilege_type,
         r.oid::int AS identity_id, r.rolname::varchar AS identity_name,
         CASE WHEN rn.name IS NOT NULL THEN 'role' WHEN r.rolcanlogin THEN 'user' ELSE 'group' END::varchar AS identity_type
    FROM pg_catalog.pg_namespace n, aclexplode(n.nspacl) a
    JOIN pg_roles r ON r.oid = a.grantee
    LEFT JOIN redshift_profile.role_names rn ON rn.name = r.rolname;
CREATE VIEW redshift_profile.svv_relation_privileges AS
  SELECT n.nspname::varchar AS namespace_name, c.relname::varchar AS relation_name,
         a.privilege_type::varchar AS privilege_type, r.oid::int AS identity_id,
         r.rolname::varchar AS identity_name,
         CASE WHEN rn.name IS NOT NULL THEN 'role' WHEN r.rolcanlogin THEN 'user' ELSE 'group' END::varchar AS identity_type
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
    JOIN pg_roles r ON r.oid = a.grantee
    LEFT JOIN redshift_profile.role_names rn ON rn.name = r.rolname
   WHERE c.relkind IN ('r', 'v', 'm', 'p');

-- Redshift's PG_DEFAULT_ACL names the creating user defacluser (PostgreSQL: defaclrole).
-- https://docs.aws.amazon.com/redshift/latest/dg/r_PG_DEFAULT_ACL.html
CREATE VIEW redshift_profile.pg_default_acl AS
  SELECT d.defaclrole AS defacluser, d.defaclnamespace, d.defaclobjtype, d.defaclacl
    FROM pg_catalog.pg_default_acl d;

-- Redshift's nspacl and relacl leave grants to roles out (they are in the SVV views above).
-- The dialect reads these catalogs unqualified, so these views stand in for them.
CREATE VIEW redshift_profile.pg_namespace AS
  SELECT n.oid, n.nspname, n.nspowner,
         ARRAY(SELECT x FROM unnest(n.nspacl) x
                WHERE NOT EXISTS (SELECT 1 FROM aclexplode(ARRAY[x]) e
                                    JOIN pg_catalog.pg_roles r ON r.oid = e.grantee
                                    JOIN redshift_profile.role_names rn ON rn.name = r.rolname)) AS nspacl
    FROM pg_catalog.pg_namespace n;
CREATE VIEW redshift_profile.pg_class AS
  SELECT c.oid, c.relname, c.relnamespace, c.relowner, c.relkind,
         ARRAY(SELECT x FROM unnest(c.relacl) x
                WHERE NOT EXISTS (SELECT 1 FROM aclexplode(ARRAY[x]) e
                                    JOIN pg_catalog.pg_roles r ON r.oid = e.grantee
                                    JOIN redshift_profile.role_names rn ON rn.name = r.rolname)) AS relacl
    FROM pg_catalog.pg_class c;

-- SVV_DATABASE_PRIVILEGES, and pg_database without role grants in datacl.
-- https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_DATABASE_PRIVILEGES.html
CREATE VIEW redshift_profile.svv_database_privileges AS
  SELECT d.datname::varchar AS database_name, a.privilege_type::varchar AS privilege_type,
         r.oid::int AS identity_id, r.rolname::varchar AS identity_name,
         CASE WHEN rn.name IS NOT NULL THEN 'role' WHEN r.rolcanlogin THEN 'user' ELSE 'group' END::varchar AS identity_type
    FROM pg_catalog.pg_database d, aclexplode(d.datacl) a
    JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
    LEFT JOIN redshift_profile.role_names rn ON rn.name = r.rolname;
CREATE VIEW redshift_profile.pg_database AS
  SELECT d.oid, d.datname, d.datdba,
         ARRAY(SELECT x FROM unnest(d.datacl) x
                WHERE NOT EXISTS (SELECT 1 FROM aclexplode(ARRAY[x]) e
                                    JOIN pg_catalog.pg_roles r ON r.oid = e.grantee
                                    JOIN redshift_profile.role_names rn ON rn.name = r.rolname)) AS datacl
    FROM pg_catalog.pg_database d;
