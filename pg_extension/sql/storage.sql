-- Storage buckets and object policies (seed 001).
--
-- Two private buckets, 1 GiB per object, images and mp4 only. Object names are
-- `{user_id}/...` and the policies keep each user inside their own folder: the
-- seed's `auth.uid()::text = (storage.foldername(name))[1]`, tightened by
-- storage_path_is_owned to refuse names a backend could resolve outside that
-- folder (`..`, empty segments, backslashes). The seed's FOR ALL policies are
-- kept under their seed names, with an explicit WITH CHECK so nothing can be
-- uploaded or moved into another user's folder. service_role bypasses RLS.

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
select b.id, b.id, false, ourvidz_private.max_object_bytes(), ourvidz_private.allowed_mime_types()
from unnest(array['workspace-temp', 'user-library']) b (id)
on conflict (id) do nothing;

create policy "workspace_temp_access" on storage.objects
    for all to authenticated
    using (bucket_id = 'workspace-temp' and storage_path_is_owned(name, (select auth.uid())))
    with check (bucket_id = 'workspace-temp' and storage_path_is_owned(name, (select auth.uid())));

create policy "user_library_access" on storage.objects
    for all to authenticated
    using (bucket_id = 'user-library' and storage_path_is_owned(name, (select auth.uid())))
    with check (bucket_id = 'user-library' and storage_path_is_owned(name, (select auth.uid())));
