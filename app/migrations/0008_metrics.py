from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_audit')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Incident',
            index=Index(fields=['service_id', 'created_at']),
        ),
    ]
