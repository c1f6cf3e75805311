import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { ApiKeyScope, UserRole } from '../../entities';
import { DateTimeScalar } from '../scalars';
import { PageInfo } from './payment';

registerEnumType(UserRole, { name: 'Role' });
registerEnumType(ApiKeyScope, {
  name: 'ApiKeyScope',
  description: 'What a service API key may do.',
  valuesConfig: {
    USAGE: { description: 'Read limits and record usage for the user it acts for (myLimits, recordUsage).' },
    BILLING: { description: 'Subscriptions and payments for the user it acts for.' },
    USERS: { description: 'Create, update and read users (upsertUser, user).' },
    ADMIN: { description: 'Everything, API keys and the user list included.' },
  },
});

@ObjectType('User')
export class UserType {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true, description: "The product's own id for this user; null for users made on the command line." })
  externalId!: string | null;

  @Field()
  email!: string;

  @Field(() => String, { nullable: true })
  name!: string | null;

  @Field({ description: 'IANA time zone; daily limits follow this day.' })
  timezone!: string;

  @Field(() => UserRole)
  role!: UserRole;
}

@InputType()
export class UpsertUserInput {
  @Field({ description: "The product's own id for the user (at most 200 characters): the key of the upsert." })
  externalId!: string;

  @Field(() => String, { nullable: true, description: 'Needed to create the user; left out, an existing user keeps theirs.' })
  email?: string | null;

  @Field(() => String, { nullable: true, description: 'IANA time zone (default UTC for a new user).' })
  timezone?: string | null;

  @Field(() => String, { nullable: true, description: 'A display name (at most 200 characters).' })
  name?: string | null;
}

@ObjectType()
export class UpsertUserResult {
  @Field(() => UserType)
  user!: UserType;

  @Field({ description: 'Whether this call made the user (false: it existed and was updated).' })
  created!: boolean;
}

@ObjectType()
export class UserEdge {
  @Field({ description: 'Pass as `after` to get the users after this one.' })
  cursor!: string;

  @Field(() => UserType)
  node!: UserType;
}

@ObjectType({ description: 'A page of users, newest first.' })
export class UserConnection {
  @Field(() => [UserEdge])
  edges!: UserEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@ObjectType('ApiKey', { description: 'A service API key, as lists show it: never the key itself.' })
export class ApiKeyType {
  @Field(() => ID)
  id!: string;

  @Field()
  name!: string;

  @Field({ description: 'The first characters of the key (tg_sk_ and 8 more), to tell keys apart.' })
  prefix!: string;

  @Field(() => [ApiKeyScope])
  scopes!: ApiKeyScope[];

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Updated at most once a minute.' })
  lastUsedAt!: Date | null;

  @Field(() => DateTimeScalar, { nullable: true })
  revokedAt!: Date | null;
}

@InputType()
export class CreateApiKeyInput {
  @Field({ description: 'A name to tell the key by (unique among keys not revoked, at most 100 characters).' })
  name!: string;

  @Field(() => [ApiKeyScope])
  scopes!: ApiKeyScope[];
}

@ObjectType()
export class CreateApiKeyResult {
  @Field(() => ApiKeyType)
  apiKey!: ApiKeyType;

  @Field({ description: 'The key itself: shown here only, store it now. Send it as "Authorization: Bearer <key>".' })
  key!: string;
}
