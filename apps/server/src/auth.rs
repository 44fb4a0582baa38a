//! Tokens (JWT, HS256, issuer and expiry checked) and password hashes
//! (bcrypt in passlib's `$2b$` form, which the desktop app verifies
//! offline; argon2 hashes of users made before still verify).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use jcselect_sync::auth::{Principal, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::secret::JwtSecret;

/// The issuer every token names.
pub const ISSUER: &str = "jcselect";

/// A token's claims (PROTOCOL.md §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    /// The user's name.
    pub username: String,
    /// `admin` or `operator`.
    pub role: String,
    /// The pens an operator may touch.
    #[serde(default)]
    pub pens: Vec<Uuid>,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// Always [`ISSUER`].
    pub iss: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenRefused(pub String);

/// Mints and checks tokens with one secret.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").finish_non_exhaustive()
    }
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

impl Tokens {
    /// Tokens signed with `secret`.
    pub fn new(secret: &JwtSecret) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        Tokens {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// A token for a user, valid `ttl_seconds` from now.
    pub fn mint(
        &self,
        user_id: Uuid,
        username: &str,
        role: Role,
        pens: &[Uuid],
        ttl_seconds: u64,
    ) -> String {
        let iat = now_seconds();
        let claims = Claims {
            sub: user_id,
            username: username.to_owned(),
            role: match role {
                Role::Admin => "admin".into(),
                Role::Operator => "operator".into(),
            },
            pens: pens.to_vec(),
            iat,
            exp: iat + ttl_seconds,
            iss: ISSUER.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with a byte secret cannot fail")
    }

    /// The principal a token names, if it is well-formed, signed with our
    /// secret by HS256, issued by us and not expired.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenRefused> {
        self.verify_claims(token).map(|(principal, _)| principal)
    }

    /// [`verify`](Self::verify), with the user name the token was given to.
    pub fn verify_claims(&self, token: &str) -> Result<(Principal, String), TokenRefused> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| TokenRefused(format!("invalid token: {error}")))?;
        let role = match data.claims.role.as_str() {
            "admin" => Role::Admin,
            "operator" => Role::Operator,
            other => {
                return Err(TokenRefused(format!(
                    "invalid token: unknown role {other:?}"
                )))
            }
        };
        Ok((
            Principal {
                user_id: data.claims.sub,
                role,
                pens: data.claims.pens,
            },
            data.claims.username,
        ))
    }
}

/// The bcrypt cost of new hashes (passlib's default for the app).
pub const BCRYPT_COST: u32 = 12;

/// A bcrypt hash (`$2b$12$…`, passlib's format) of a password, salted at
/// random.
pub fn hash_password(password: &str) -> String {
    bcrypt::hash_with_result(password, BCRYPT_COST)
        .expect("bcrypt hashing with a valid cost cannot fail")
        .format_for_version(bcrypt::Version::TwoB)
}

/// Whether `password` matches a stored hash: bcrypt (`$2b$`, `$2a$`,
/// `$2y$`) or argon2 (users made before); a malformed or locked (`"!"`)
/// hash never does.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if hash.starts_with("$argon2") {
        return PasswordHash::new(hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
    }
    hash.starts_with("$2") && bcrypt::verify(password, hash).unwrap_or(false)
}

/// An argon2id hash: only for tests of users made before bcrypt.
pub fn argon2_hash(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("hashing with default argon2 parameters cannot fail")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(secret: &str) -> Tokens {
        Tokens::new(&JwtSecret::new(secret.as_bytes().to_vec(), "test").unwrap())
    }

    #[test]
    fn a_minted_token_verifies_and_carries_role_and_pens() {
        let tokens = tokens("0123456789abcdef0123456789abcdef");
        let (user, pen) = (Uuid::new_v4(), Uuid::new_v4());
        let token = tokens.mint(user, "amal", Role::Operator, &[pen], 60);
        let principal = tokens.verify(&token).unwrap();
        assert_eq!(
            (principal.user_id, principal.role, principal.pens),
            (user, Role::Operator, vec![pen])
        );
    }

    #[test]
    fn another_secret_and_alg_none_are_refused() {
        let token = tokens("0123456789abcdef0123456789abcdef").mint(
            Uuid::new_v4(),
            "x",
            Role::Admin,
            &[],
            60,
        );
        assert!(tokens("fedcba9876543210fedcba9876543210")
            .verify(&token)
            .is_err());
        let payload = token.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(tokens("0123456789abcdef0123456789abcdef")
            .verify(&unsigned)
            .is_err());
    }

    #[test]
    fn passwords_hash_as_passlib_bcrypt_and_argon2_still_verifies() {
        let hash = hash_password("كلمة السر");
        assert!(hash.starts_with("$2b$12$"), "{hash}");
        assert!(verify_password("كلمة السر", &hash));
        assert!(!verify_password("wrong", &hash));
        let old = argon2_hash("كلمة السر");
        assert!(verify_password("كلمة السر", &old));
        assert!(!verify_password("wrong", &old));
        for locked in ["x", "not a hash", "!", ""] {
            assert!(!verify_password("x", locked));
        }
    }

    #[test]
    fn hashes_made_by_passlib_verify_and_ours_verify_in_passlib_form() {
        // made with passlib.hash.bcrypt.using(rounds=4).hash(…) (passlib
        // 1.7, the app's library)
        let passlib = [
            (
                "secret",
                "$2b$04$Uya5GqS5JerVV1PKh5nFUunFnZhKW5ZpFKo40KOjOra/6M7rReO6W",
            ),
            (
                "كلمة السر",
                "$2b$04$PEFko0HsW5CDoARDmuSo2e2xVjkNkdZza6mB01.GEs.Fprv/gugIy",
            ),
        ];
        for (password, hash) in passlib {
            assert!(verify_password(password, hash), "{hash}");
            assert!(!verify_password("wrong", hash));
        }
    }
}
