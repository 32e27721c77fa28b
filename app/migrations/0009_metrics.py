from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_ops2_gauges')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Incident',
            index=Index(fields=['service_id', 'created_at']),
        ),
        ops.RemoveIndex(
            model_name='SlaTimer',
            name=None,
            fields=['state', 'stopped_at'],
        ),
        ops.AddIndex(
            model_name='SlaTimer',
            index=Index(fields=['state', 'stopped_at', 'incident_id']),
        ),
    ]
