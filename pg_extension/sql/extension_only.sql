-- Only in the extension build (the pure-SQL migrations own their tables
-- directly, so pg_dump already dumps their rows).
--
-- Tables created by an extension script belong to the extension, and pg_dump
-- skips the rows of extension tables unless they are marked as configuration:
-- without this, a dump of a production database would contain no jobs, assets
-- or library at all.
select pg_catalog.pg_extension_config_dump('jobs', '');
select pg_catalog.pg_extension_config_dump('workspace_assets', '');
select pg_catalog.pg_extension_config_dump('user_collections', '');
select pg_catalog.pg_extension_config_dump('user_library', '');
select pg_catalog.pg_extension_config_dump('storage_deletion_outbox', '');
select pg_catalog.pg_extension_config_dump('storage_deletion_outbox_id_seq', '');
select pg_catalog.pg_extension_config_dump('asset_relationships', '');
select pg_catalog.pg_extension_config_dump('job_sources', '');
select pg_catalog.pg_extension_config_dump('job_sources_id_seq', '');
