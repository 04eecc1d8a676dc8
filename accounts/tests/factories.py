import factory

from accounts.choices import ApiKeyScope, OrganizationKind, Role
from accounts.models import Client, Membership, Organization, User
from accounts.services import create_api_key


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Agency {n}")
    slug = factory.Sequence(lambda n: f"agency-{n}")
    kind = OrganizationKind.AGENCY


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Client {n}")
    slug = factory.Sequence(lambda n: f"client-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.django.Password("correct horse battery staple")


def member(role, *, client=None, organization=None, **user_fields):
    """A new user holding `role` on `client` (client roles) or `organization` (admin roles)."""
    user = UserFactory(**user_fields)
    Membership.objects.create(user=user, role=role, client=client, organization=organization)
    return user


def api_key_for(client, scopes=(ApiKeyScope.READ, ApiKeyScope.WRITE), name="test key"):
    """(ApiKey, raw key) for `client`."""
    return create_api_key(client=client, name=name, scopes=list(scopes))


__all__ = ["ClientFactory", "OrganizationFactory", "Role", "UserFactory", "api_key_for", "member"]
