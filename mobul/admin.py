class ReadOnlyAdminMixin:
    """For records nobody edits by hand (logs, rollups, webhook receipts): look, filter, never write."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
